"""The application's names, as Qt files its settings under them: importable before torch (the start-up window)."""

ORGANIZATION = "cnn-feature-explorer"
APPLICATION = "CNN Feature Explorer"

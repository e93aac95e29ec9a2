"""interactive_threads: one torch intra-op thread for the window unless $CNN_EXPLORER_THREADS says otherwise."""

from __future__ import annotations

import torch

from explorer.core.device import interactive_threads


def test_one_thread_unless_asked(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("CNN_EXPLORER_THREADS", raising=False)
        assert interactive_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("CNN_EXPLORER_THREADS", "2")
        assert interactive_threads() == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("CNN_EXPLORER_THREADS", "lots")
        assert interactive_threads() == 1
    finally:
        torch.set_num_threads(before)

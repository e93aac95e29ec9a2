"""A user's model class from a file (`FILE.py:CLASS`) or a module (`package.module:CLASS`), imported and built so that
its code can neither end our process nor read our command line: its exits and errors become one ModelError line."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator

from torch import nn

from explorer.core.errors import ModelError, first_line
from explorer.core.paths import file_kind


def user_class(spec: str, num_classes: int | None) -> nn.Module:
    where, _, cls_name = spec.rpartition(":")
    if where.endswith(".py"):
        if not os.path.isfile(where):
            if os.path.exists(where):
                raise ModelError(f"{where}: is {file_kind(os.stat(where).st_mode)}, not a Python file")
            raise ModelError(f"{where}: no such Python file")
        mod_name = f"explorer_user_model_{abs(hash(os.path.abspath(where)))}"
        try:
            mod_spec = importlib.util.spec_from_file_location(mod_name, where)
            assert mod_spec is not None and mod_spec.loader is not None
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[mod_name] = module
            with user_code(where, "the file"):
                mod_spec.loader.exec_module(module)
        except ModelError:
            sys.modules.pop(mod_name, None)
            raise
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            raise ModelError(f"{where}: the file fails to run ({type(exc).__name__}: {first_line(exc)})") from None
    else:
        try:
            with user_code(where, "the module"):
                module = importlib.import_module(where)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"{where}: cannot import the module ({type(exc).__name__}: {first_line(exc)})") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ModelError(f"{where}: defines no {cls_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ModelError(f"{where}: {cls_name!r} is not an nn.Module class")
    try:
        with user_code(where, f"{cls_name}()"):
            return cls(num_classes=num_classes) if num_classes is not None else cls()
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{where}: {cls_name}() fails ({type(exc).__name__}: {first_line(exc)})") from None


@contextlib.contextmanager
def user_code(where: str, what: str) -> Iterator[None]:
    """Run a user's module or class with an argv of its own, and its exit turned into a ModelError:
    it must neither end our process nor read (and answer) our command line."""
    argv = sys.argv
    sys.argv = [where]
    try:
        yield
    except SystemExit as exc:
        raise ModelError(
            f"{where}: {what} calls sys.exit({exc.code!r}) when run, so it cannot be opened as a model "
            "(put script code under `if __name__ == '__main__':`)"
        ) from None
    except (Exception, KeyboardInterrupt):
        raise
    except BaseException as exc:
        raise ModelError(f"{where}: {what} raises {type(exc).__name__} ({first_line(exc)})") from None
    finally:
        sys.argv = argv

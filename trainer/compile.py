"""``--compile``: torch.compile of the training step, with compile failures turned into one-line errors.

Only the module the optimizer step calls is compiled. The plain module stays the one that is saved, loaded,
validated and explained, so checkpoints keep their plain state-dict keys (no ``_orig_mod.`` prefixes) and resume
loads into the plain module before it is wrapped.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch

from engine.errors import AlifuseInputError

#: The compiler backend; a test swaps it for one that fails, to exercise the error path without breaking gcc.
BACKEND: str | Callable[..., Any] = "inductor"


class CompiledStep:
    """Calls a ``torch.compile``-d module. Inside :meth:`errors`, a compiler failure (no C++ compiler, no Triton,
    an unsupported op) becomes an :class:`AlifuseInputError` naming ``--compile``, not a page of traceback; an error
    of the step itself (its data, its shapes) stays that error."""

    def __init__(self, module: torch.nn.Module, flag: str = "--compile") -> None:
        self.module = module
        self.flag = flag
        self.steps_done = 0
        self._inputs: tuple[tuple, dict, Any] | None = None  # the step's call, kept until it ends (see errors)
        # torch.compile is lazy: nothing is traced or compiled until the first call, so errors surface there
        self.compiled = torch.compile(module, backend=BACKEND)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._inputs = (args, kwargs, _autocast_state(args, kwargs))
        # the text loss selects the masked tokens with a boolean index (a data-dependent size): traced as a
        # symbolic size instead of splitting the graph there
        with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True):
            return self.compiled(*args, **kwargs)

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Wrap one whole step (forward *and* backward: the backward graph is compiled at its first use).

        A compiler's errors arrive in many types, some unwrapped, so a failed first step (or any step failing
        inside Dynamo, which recompiles for new shapes) runs its forward again without the compiler: if that
        fails too, its error is the step's own and is raised as it is; otherwise the compiler is named.
        """
        try:
            yield
        except (AlifuseInputError, torch.cuda.OutOfMemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - sorted below: the step's own error, or the compiler's
            if self.steps_done and not isinstance(exc, torch._dynamo.exc.TorchDynamoException):
                raise
            own = self._eager_error()
            if own is not None:
                raise own from None
            raise AlifuseInputError(self._message(exc)) from None
        finally:
            self._inputs = None  # do not hold the batch (GPU memory) until the next step
        self.steps_done += 1

    def _eager_error(self) -> Exception | None:
        """The error of the failed step's forward run without the compiler, or None if it runs (or if the rerun
        fails on the CUDA context itself, which a faulty compiled kernel leaves broken).

        The rerun is the plain module (not a DDP wrapper: no collectives another rank would have to match), without
        ``gather``, without gradients, under the autocast the step ran in.
        """
        if self._inputs is None:
            return None
        args, kwargs, autocast = self._inputs
        module = getattr(self.module, "module", self.module)  # DistributedDataParallel keeps the model in .module
        kwargs = {**kwargs, "gather": None} if "gather" in kwargs else kwargs
        try:
            with torch.no_grad(), (autocast if autocast is not None else contextlib.nullcontext()):
                module(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - returned to be raised in place of the compiler's report
            return None if "CUDA error" in str(exc) else exc
        return None

    def _message(self, exc: BaseException) -> str:
        return f"{self.flag}: torch.compile failed on this machine ({_first_line(exc)}); run without {self.flag}"


def _autocast_state(args: tuple, kwargs: dict) -> torch.autocast | None:
    """An autocast context equal to the one active for the step's first tensor's device (None if off)."""
    tensor = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
    if tensor is None or not torch.is_autocast_enabled(tensor.device.type):
        return None
    kind = tensor.device.type
    return torch.autocast(kind, dtype=torch.get_autocast_dtype(kind))


def step_errors(model: Callable[..., Any]) -> contextlib.AbstractContextManager:
    """:meth:`CompiledStep.errors` for a compiled step, a no-op context for a plain module."""
    return model.errors() if isinstance(model, CompiledStep) else contextlib.nullcontext()


def _first_line(exc: BaseException) -> str:
    """The informative part of a compiler error, which can run to many lines of C++ compiler output."""
    inner = getattr(exc, "inner_exception", None)  # set by BackendCompilerFailed: the compiler's own error
    err = inner if isinstance(inner, BaseException) else exc
    line = next((x.strip() for x in str(err).splitlines() if x.strip()), "")
    return f"{type(err).__name__}: {line}"[:200] if line else type(err).__name__


def maybe_compile(module: torch.nn.Module, enabled: bool, flag: str = "--compile") -> Callable[..., Any]:
    """``module`` itself, or a :class:`CompiledStep` around it when ``enabled``."""
    return CompiledStep(module, flag) if enabled else module

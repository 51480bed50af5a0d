"""What a deployed module may be: the deploy limits and the float policy (:class:`DeployPolicy`).

Plain data shared by every layer that speaks of it: the broker holds it in
its config and reports it (stats, startup line), the engine's validator
(``wasmpool.worker.validate.module_error``) enforces it, and a refusal
travels to clients as a typed error (``wasmpool.wire.errors.ModuleLimitExceeded``,
``FloatsRejected``). It is enforced at deploy only: a module stored before a
policy changed stays callable.

The defaults are generous for real compiler output: the committed corpus
(clang at -O0 to -Oz, rustc, AssemblyScript) and the examples pass with a
wide margin; each field says what it bounds and where its default comes from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any


class Floats(StrEnum):
    """The float policy: how the pool treats modules that compute with floats."""

    CANONICAL = "canonical"  # accepted; run with canonical NaNs, so every CPU gives the same bits
    REJECT = "reject"  # refused at deploy if any float instruction or float type appears


def floats_policy(value: str) -> Floats:
    """The float policy named ``value`` (ValueError naming the choices otherwise)."""
    try:
        return Floats(value)
    except ValueError:
        raise ValueError(f"float policy must be one of {', '.join(Floats)}, not {value!r}") from None


def _limit(default: Any, text: str) -> Any:
    """A limit's field: its default and what it bounds (``--help`` shows the text)."""
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True, slots=True)
class DeployLimits:
    """Upper bounds on a deployed module's shape; a module above one is refused, naming it.

    Counts are of what the module defines (imports aside), as CosmWasm counts
    them. Each default is about ten times the largest value in the committed
    corpus, examples and test contracts (in brackets), or a
    bound the pool already imposes (the broker's ``max_module``, the runtime's
    256 memory pages), or CosmWasm's own default where it has one.
    """

    module_bytes: int = _limit(16 * 1024 * 1024, "bytes of the module (the broker's max_module)")  # [197 KiB]
    functions: int = _limit(20_000, "functions defined (CosmWasm's default)")  # [322]
    function_params: int = _limit(100, "parameters of one function (CosmWasm's default)")  # [10]
    total_params: int = _limit(10_000, "parameters of all defined functions (CosmWasm's default)")  # [788]
    imports: int = _limit(100, "import entries, each a host ABI function (CosmWasm's default)")  # [11]
    exports: int = _limit(1_000, "export entries")  # [25]
    memory_pages: int = _limit(256, "pages of a memory, initial and declared maximum (runtime cap)")  # [19]
    table_elements: int = _limit(10_000, "elements of a table, initial and declared maximum")  # [74]
    function_locals: int = _limit(25_000, "declared locals of one function")  # [2,308, clang -O0]
    nesting_depth: int = _limit(1_000, "blocks, loops and ifs open at once in one function")  # [68]
    br_table_size: int = _limit(10_000, "targets of one br_table")  # [84]
    memory_export: bool = _limit(True, "the module must export its memory as 'memory' (the host ABI uses it)")

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.type == "int" and (type(value) is not int or value < 0):
                raise ValueError(f"deploy limit {spec.name} must be a non-negative integer, not {value!r}")

    def as_dict(self) -> dict[str, Any]:
        """Every limit by name (what stats report)."""
        return asdict(self)


DEFAULT_DEPLOY_LIMITS = DeployLimits()

NUMERIC_LIMITS: tuple[str, ...] = tuple(spec.name for spec in fields(DeployLimits) if spec.type == "int")
"""The limits that are numbers (each gets a ``--deploy-...`` option on ``wasmpool broker``)."""


@dataclass(frozen=True, slots=True)
class DeployPolicy:
    """Everything a deployed module is judged by: its limits and the float policy."""

    limits: DeployLimits = field(default_factory=DeployLimits)
    floats: Floats = Floats.CANONICAL

    def __post_init__(self) -> None:
        object.__setattr__(self, "floats", floats_policy(self.floats))

    def describe(self) -> str:
        """One line for people: the float policy and the limits that differ from the defaults."""
        changed = [f"{name}={value}" for name, value in self.limits.as_dict().items()
                   if value != getattr(DEFAULT_DEPLOY_LIMITS, name)]
        return f"float policy {self.floats}, deploy limits " + (", ".join(changed) if changed else "default")


DEFAULT_DEPLOY_POLICY = DeployPolicy()


def limit_help(name: str) -> str:
    """What the deploy limit ``name`` bounds, for ``--help``."""
    text: str = next(spec.metadata["help"] for spec in fields(DeployLimits) if spec.name == name)
    return text

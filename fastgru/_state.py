"""The declaration of a persisted class's fitted state.

Each class that :func:`fastgru.save` writes declares, next to its
``_check_restored``, a :class:`FittedState`: the kind written in the file
and every fitted attribute, each a :class:`Field` with its kind (what
:func:`fastgru.load` checks before setting it) and whether it may be absent.
:mod:`fastgru.serialization` reads these declarations only, so that a new
fitted attribute is one line beside the code that uses it.

A field's ``name`` is its key in the file; ``attr`` (default: the name) is
the attribute that holds it, so that an attribute can be renamed without
changing the files already written.

Examples
--------
>>> from fastgru._state import Field, FittedState
>>> spec = FittedState("Demo", (Field("n_iter_", "int"), Field("mean_", "array")))
>>> [f.name for f in spec.scalars], [f.name for f in spec.arrays]
(['n_iter_'], ['mean_'])
"""

from __future__ import annotations

from dataclasses import dataclass

#: What a field holds: ``int`` (an integer), ``number`` (an int or float),
#: ``numbers`` (a list of them), ``json`` (any JSON value; the class's
#: ``_check_restored`` checks it) or ``array`` (a numeric or string array,
#: stored as an array of its own).
KINDS = ("int", "number", "numbers", "json", "array")


@dataclass(frozen=True)
class Field:
    """One fitted attribute: its key in the file, kind and optionality."""

    name: str
    kind: str
    optional: bool = False
    attr: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not self.attr:
            object.__setattr__(self, "attr", self.name)


@dataclass(frozen=True)
class FittedState:
    """A persisted class's fitted state.

    Parameters
    ----------
    kind : str
        The ``kind`` written in the file's metadata.
    fields : tuple of Field
        The fitted attributes besides the network.
    network : bool, default False
        Whether the object holds a layer ``gru_`` and a linear head ``head_``
        (``{"weight", "bias"}``), saved as arrays of their own.
    head_outputs : str, optional
        The field whose value (an int, or a sequence's length) the head's
        number of outputs must equal.
    members : bool, default False
        Whether the object holds the other models of an ensemble in
        ``members_``, a list of ``(layer, head)`` (each saved as the
        network is, under ``member<j>/``).
    """

    kind: str
    fields: tuple
    network: bool = False
    head_outputs: str = ""
    members: bool = False

    @property
    def scalars(self) -> tuple:
        """The fields stored in the metadata (JSON)."""
        return tuple(f for f in self.fields if f.kind != "array")

    @property
    def arrays(self) -> tuple:
        """The fields stored as arrays."""
        return tuple(f for f in self.fields if f.kind == "array")


#: The training record every fitted network keeps (see ``fastgru._training``).
TRAINING = (
    Field("n_iter_", "int"),
    Field("loss_curve_", "numbers"),
    Field("best_loss_", "number"),
    Field("validation_scores_", "numbers", optional=True),
    Field("best_validation_score_", "number", optional=True),
)

"""Diagnostic codes of the sources layer: who owns an object when files and the API disagree.

SM71xx (runtime range): conflicts between origins of the same resource key, and the file
source's own problems (a file that can no longer be read). Registered at import time.
"""

from __future__ import annotations

from smimesh.diagnostics import Severity, register

OWNED_BY_FILE = register(
    "SM7101",
    "object is defined by a file",
    Severity.ERROR,
    """The object you tried to apply or delete through the API is defined by a manifest file in
    the directory `smimesh up` watches. Files are the source of truth for what they define, so the
    API refuses to change it rather than silently shadowing the file (or being silently undone by
    the next save). Edit or delete the object in the file named in the diagnostic instead.""",
)

DEFINED_TWICE = register(
    "SM7102",
    "object defined in two files",
    Severity.ERROR,
    """Two manifest files define the same kind, namespace and name. The file that defined it first
    keeps it; the other definition is ignored until the first one goes away. Rename or remove one
    of the two definitions.""",
)

FILE_SHADOWS_API = register(
    "SM7103",
    "a file now defines an object applied through the API",
    Severity.WARNING,
    """An object applied through the API (`smimesh apply`) is now also defined by a manifest file.
    The file's version is in force; the API-applied copy is kept but has no effect until the file
    stops defining it. Run `smimesh delete` on it to drop the API copy for good.""",
)

FILE_UNREADABLE = register(
    "SM7104",
    "manifest file could not be read",
    Severity.ERROR,
    """A watched manifest file could not be read (permissions, a vanished directory, an I/O error).
    The objects it defined keep their last good version until it can be read again.""",
)

LAST_GOOD_KEPT = register(
    "SM7105",
    "file has errors: last good version kept",
    Severity.WARNING,
    """A watched manifest file was changed and now has errors (reported next to this note). Nothing
    it defines was changed: its objects keep the version they had when the file last loaded without
    errors, so a typo or a half-saved file never takes configuration away from running sidecars.
    Fix the file and save it again; the fixed version is live within a second.""",
)

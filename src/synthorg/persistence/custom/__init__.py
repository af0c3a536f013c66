"""Hand-written bodies of ``custom`` repository methods shared by every dialect.

A body that only calls the repository's own methods is written once, here,
as ``async def <name>(repo, ...)`` in ``<accessor>.py``; ``repo`` is the
entity's repository Protocol. A dialect that needs its own SQL writes the
body in ``<dialect>/custom/<accessor>.py`` instead, which wins. ``make
generate`` checks that every declared custom method has a body with the
declared signature.
"""

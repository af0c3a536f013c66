"""Hand-written SQLite bodies of ``custom`` repository methods, per entity.

``make generate`` checks that each declared custom method has an
``async def <name>(repo, ...)`` here with the declared signature.
"""

"""The entity-relationship diagram of the schema, as Mermaid text.

Generated from schema/*.yaml (codegen/docs.py); ``synthorg-persistence
diagram`` prints it, docs/entities.md embeds it.
"""

from typing import Final

MERMAID: Final = """\
erDiagram
    members {
        str id PK
        str email UK
    }
"""

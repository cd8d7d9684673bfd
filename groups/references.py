"""Group references in files and on the command line: a group's name (ignoring case) or its id."""

from __future__ import annotations

import uuid

from groups.models import Group


class GroupResolver:
    """Resolve group references (a name, ignoring case, or an id) against the groups that exist."""

    def __init__(self) -> None:
        self.by_id: dict[uuid.UUID, str] = {}
        self.by_name: dict[str, uuid.UUID] = {}
        for pk, name in Group.objects.values_list("id", "name"):
            self.by_id[pk] = name
            self.by_name[name.lower()] = pk

    def resolve(self, ref: str) -> uuid.UUID | None:
        pk = self.by_name.get(ref.lower())
        if pk is not None:
            return pk
        try:
            pk = uuid.UUID(ref)
        except ValueError:
            return None
        return pk if pk in self.by_id else None

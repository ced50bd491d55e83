"""Item mappers: neutral item -> what the destination accepts (see groupmigrate.mappers.map_item)."""

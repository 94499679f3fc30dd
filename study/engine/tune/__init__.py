"""Everything that imports Ray: the trainable, the store callback, the searcher adapter, the
local Ray runtime and the Jobs API client. Nothing outside this package imports ray."""

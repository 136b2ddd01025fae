"""How the API reads rows: keyset cursors (``cursor``), selects rendered once and
reused (``prepared``) and a row's foreign-key value without a join (``rows``)."""

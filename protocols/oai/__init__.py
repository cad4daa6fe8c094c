"""OAI-PMH 2.0 data provider logic: arguments in, XML out.

Nothing here knows about HTTP or SQL. `server.Server` answers a request given as a list of
(name, value) pairs and talks to storage through `repository.Repository`.
"""

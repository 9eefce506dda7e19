"""Talking to remote.it as an account.

* :mod:`.protocol`: the REST API as data, pure: request bodies in, parsed results and
  errors out (every documented quirk, tested without a socket);
* :mod:`.rest`: the REST client (httpx on trio), every failure mapped to the error tree
  at its boundary;
* :mod:`.signing`: access-key request signing (an ``httpx.Auth``);
* :mod:`.credentials`: credentials from the environment or ``~/.remoteit/credentials``;
* :mod:`.accounts`: one client per account (API URL + credentials section);
* :mod:`.tokencache`: login tokens kept between runs (0600);
* :mod:`.names`: service names → service IDs, with a short-lived cache.

Nothing here knows about local ports or tunnels.
"""

"""Talking to remote.it as an account.

* :mod:`.client`: :class:`~.client.ApiClient`, the one interface both APIs' clients
  implement (what the tunnel uses);
* :mod:`.protocol`: the REST API as data, pure: request bodies in, parsed results and
  errors out (every documented quirk, tested without a socket), and the results both
  APIs share;
* :mod:`.rest`: the REST client: its headers, logging in again once when a call fails
  for auth;
* :mod:`.queries`: the GraphQL API as data, pure: documents and variables in, parsed
  results out;
* :mod:`.graphql`: the GraphQL client (every request signed with the access key;
  throttling ridden out);
* :mod:`.transport`: HTTP for both clients (httpx on trio, one client per account),
  every httpx failure mapped to the error tree at this boundary, bodies capped;
* :mod:`.signing`: access-key request signing (an ``httpx.Auth``);
* :mod:`.credentials`: credentials from the environment or ``~/.remoteit/credentials``;
* :mod:`.accounts`: one client per account (API URL + credentials section);
* :mod:`.tokencache`: login tokens kept between runs (0600);
* :mod:`.names`: service names → service IDs, with a short-lived cache.

Nothing here knows about local ports or tunnels. The API facts this package relies on,
and where each comes from, are ``docs/remoteit-api.md``.
"""

"""A tunnel's life, from claim to teardown.

* :mod:`.session`: the tunnels of one process (a :class:`~.session.Tunnel` is one
  profile: a port in front of an upstream), start-up, isolation, live counters;
* :mod:`.upstream`: the upstream half: the proxy keeper (create, renew before expiry,
  retire one dropped for idleness, warm, stop) and connecting through its proxy;
* :mod:`.port`: the port half: bind, accept, serve each client (relay or redirect), idle;
* :mod:`.redirect`: the HTTP redirect a reverse proxy's local port answers with;
* :mod:`.stdio`: one connection over stdin/stdout, through an upstream alone;
* :mod:`.share`: one proxy per service: a running tunnel that ``stdio`` and ``run`` use;
* :mod:`.claims`: a tunnel's state file from claim to release, and orphan cleanup;
* :mod:`.state`: the state files themselves (format, atomic writes, liveness); no trio,
  so ``status`` and ``stop`` stay fast;
* :mod:`.trust`: which API URLs may get the user's credentials (cleanup, status);
* :mod:`.lease`: timing decisions, pure: expiry, idle drop, the renewal plan, backoff;
* :mod:`.signals`: how a tunnel process answers SIGINT, SIGTERM, SIGHUP and SIGUSR1;
* :mod:`.notify`: systemd's ``sd_notify`` (``READY=1``, ``STOPPING=1``) for ``up``
  under a unit.
"""

"""A tunnel's life, from claim to teardown.

* :mod:`.session`: the tunnels of one process (a :class:`~.session.Tunnel` is one
  profile: a port in front of an upstream), start-up, isolation, live counters;
* :mod:`.upstream`: the upstream half: connecting through the keeper's proxy, teardown;
* :mod:`.keeper`: the proxy keeper (create, renew before expiry, retire one dropped for
  idleness, warm, stop);
* :mod:`.stopping`: the proxies a tunnel holds open, and the one stop call (cleanup's
  too);
* :mod:`.port`: the port half: bind, accept, serve each client (relay or redirect), idle;
* :mod:`.redirect`: the HTTP redirect a reverse proxy's local port answers with;
* :mod:`.stdio`: one connection over stdin/stdout, through an upstream alone;
* :mod:`.share`: one proxy per service: a running tunnel that ``stdio`` and ``run`` use;
* :mod:`.claims`: a tunnel's state file from claim to release, and orphan cleanup;
* :mod:`.state`: a state file's schema and its per-field checks; :mod:`.procs`: whether
  its process lives (pid, start time, rittunnel, listening); :mod:`.store`: the state
  directory (list, read, claim, write, set aside); no trio, so ``status`` and ``stop``
  stay fast;
* :mod:`.trust`: which API URLs may get the user's credentials (cleanup, status);
* :mod:`.lease`: timing decisions, pure: expiry, idle drop, the renewal plan, backoff,
  retries;
* :mod:`.signals`: how a tunnel process answers SIGINT, SIGTERM, SIGHUP and SIGUSR1;
* :mod:`.notify`: systemd's ``sd_notify`` (``READY=1``, ``STOPPING=1``) for ``up``
  under a unit.
"""

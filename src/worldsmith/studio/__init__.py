"""worldsmith studio: a local web app over a runs folder (runs, curated data, interactive generation).

`worldsmith studio --runs runs/` starts it (`server.serve`); `server.create_app` builds the ASGI app.
The views (`runs`, `data`) read run folders and never write them; `jobs` starts generations through
the same entry point as `worldsmith generate`; `paths` keeps every request inside the runs root.
"""

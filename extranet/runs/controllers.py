"""The run journal of scheduled exchanges, with their files (reject files) to download."""

from __future__ import annotations

from flask import abort, current_app, render_template, send_file
from sqlalchemy import select
from werkzeug.wrappers import Response

from extranet.files import inside_data_dir
from extranet.web import db, int_arg, requires, user
from kernel.runs import JobRun
from ledger.service import audit

PAGE = 100


@requires("can_see_run_journal")
def index() -> str:
    query = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(PAGE)
    before = int_arg("avant")
    if before is not None:
        query = query.where(JobRun.id < before)
    runs = db().scalars(query).all()
    return render_template("runs/index.html", runs=runs, page=PAGE)


@requires("can_see_run_journal")
def download(run_id: int, index: int) -> Response:
    run = db().get(JobRun, run_id)
    if run is None or not 0 <= index < len(run.files or []):
        abort(404)
    data_dir = current_app.extensions["telegestion"].data_dir
    path = inside_data_dir(data_dir, run.files[index])
    if path is None:
        abort(404)
    audit(db(), user().login, "run_file.downloaded", "job_run", run.id, file=run.files[index])
    db().commit()
    return send_file(path, as_attachment=True, download_name=path.name)

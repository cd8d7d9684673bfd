def test_healthz_reports_database_ok_without_credentials(anon, db):
    response = anon.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "app": "ok", "database": "ok"}

"""The size-bias report's analysis of scored rows (a score table or a search's evaluations): statistics, the
Pareto-front bias and the plots; the CLI (``naswot report``) and the API (``GET /v1/searches/{id}/report``) both use it."""

"""The service's core: device workers, dispatch, jobs and leases, data sources, records and reports."""

"""Trust: erasure of a customer on request, retention of data by age, and the audit log that records both.

``audit`` keeps ``ops.audit_log`` (what was done, to whom as a salted hash, by whom, how many rows);
``erasure`` forgets a customer everywhere and keeps them forgotten; ``retention`` deletes what has
outlived its configured time to live.
"""

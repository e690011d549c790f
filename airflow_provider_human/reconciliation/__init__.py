"""Daily reconciliation of case-management outcomes into Account Defender, exactly once.

Plain Python apart from the SQL connection lookup: the engine is testable without a scheduler.
"""

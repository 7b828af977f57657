"""Models: features and labels as of a date, churn, customer value, next best offer, sentiment, registry."""

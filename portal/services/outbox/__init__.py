"""What leaves the process: the queue the worker claims, alert mail, signals to the IdP."""

"""Security events other systems tell the portal (the portal as a Shared Signals receiver):
what a verified SET says (``events``), whom its subject names (``subjects``), and the record of
SETs already taken (``replay``). ``operations.receive_security_event`` applies one."""

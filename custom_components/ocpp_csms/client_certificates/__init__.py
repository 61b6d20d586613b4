"""Chargers' client certificates (security profile 3) in Home Assistant.

`link.CertificateLink` follows the engine's knowledge of each charger's certificate
(`memory`: what survives a restart) and its renewal (`issues`: the repairs);
`sensor` is the "Client certificate expires" sensor of each profile 3 charger.
"""

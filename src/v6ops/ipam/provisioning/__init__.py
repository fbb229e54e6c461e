"""Provisioning: one subscriber from the address plan into FreeRADIUS, Kea, DNS, WireGuard and a notice."""

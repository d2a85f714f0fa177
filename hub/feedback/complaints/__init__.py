"""Tickets: complaints (aduan) and service requests (permohonan layanan) through one workflow."""

"""The platform's privacy promises: API usage logs and their retention, data export, correction, deletion."""

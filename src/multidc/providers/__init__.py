"""Providers: the side-effecting part. Each turns a plan into running servers and removes them again."""

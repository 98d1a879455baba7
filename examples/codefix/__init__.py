"""Fix All: pick up to 50 lint issues, fix them in one background job, watch it happen."""

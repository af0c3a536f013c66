"""SynthOrg top-level package."""

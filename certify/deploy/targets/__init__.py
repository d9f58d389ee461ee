"""Deploy targets behind one interface: :class:`certify.deploy.targets.base.DeployTarget`."""

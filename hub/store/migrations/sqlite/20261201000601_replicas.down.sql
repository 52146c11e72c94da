DROP TABLE hub_replicas;

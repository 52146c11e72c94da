DROP TABLE hub_health;

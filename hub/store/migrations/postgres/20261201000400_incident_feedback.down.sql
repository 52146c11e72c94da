DROP TABLE incident_feedback;

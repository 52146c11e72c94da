package pagerduty

// Realistic V3 webhook bodies, shaped after PagerDuty's documented examples.

const bodyTriggered = `{
  "event": {
    "id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
    "event_type": "incident.triggered",
    "resource_type": "incident",
    "occurred_at": "2020-10-02T18:45:22.169Z",
    "agent": {
      "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
      "id": "PLH1HKV",
      "self": "https://api.pagerduty.com/users/PLH1HKV",
      "summary": "Tenex Engineer",
      "type": "user_reference"
    },
    "client": {"name": "PagerDuty"},
    "data": {
      "id": "PGR0VU2",
      "type": "incident",
      "self": "https://api.pagerduty.com/incidents/PGR0VU2",
      "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
      "number": 2,
      "status": "triggered",
      "incident_key": "d3640fbd41094207a1c11e58e46b1662",
      "created_at": "2020-04-09T15:16:27Z",
      "title": "A little bump in the road",
      "service": {
        "html_url": "https://acme.pagerduty.com/services/PF9KMXH",
        "id": "PF9KMXH",
        "self": "https://api.pagerduty.com/services/PF9KMXH",
        "summary": "API Service",
        "type": "service_reference"
      },
      "assignees": [
        {
          "html_url": "https://acme.pagerduty.com/users/PTUXL6G",
          "id": "PTUXL6G",
          "self": "https://api.pagerduty.com/users/PTUXL6G",
          "summary": "User 123",
          "type": "user_reference"
        }
      ],
      "escalation_policy": {
        "html_url": "https://acme.pagerduty.com/escalation_policies/PUS0KTE",
        "id": "PUS0KTE",
        "self": "https://api.pagerduty.com/escalation_policies/PUS0KTE",
        "summary": "Default",
        "type": "escalation_policy_reference"
      },
      "teams": [
        {
          "html_url": "https://acme.pagerduty.com/teams/PFCVPS0",
          "id": "PFCVPS0",
          "self": "https://api.pagerduty.com/teams/PFCVPS0",
          "summary": "Engineering",
          "type": "team_reference"
        }
      ],
      "priority": {
        "html_url": "https://acme.pagerduty.com/account/incident_priorities",
        "id": "PSO75BM",
        "self": "https://api.pagerduty.com/priorities/PSO75BM",
        "summary": "P1",
        "type": "priority_reference"
      },
      "urgency": "high",
      "conference_bridge": {
        "conference_number": "+1 1234123412,,987654321#",
        "conference_url": "https://example.com"
      },
      "resolve_reason": null,
      "incident_type": {"name": "incident_default"}
    }
  }
}`

const bodyCustomFields = `{
  "event": {
    "id": "01DFRZ4RNZ4Z0A5Y5ZP3W4J7QX",
    "event_type": "incident.custom_field_values.updated",
    "resource_type": "incident",
    "occurred_at": "2023-03-28T18:47:39.532Z",
    "agent": {"id": "PLH1HKV", "type": "user_reference", "summary": "Tenex Engineer",
      "self": "https://api.pagerduty.com/users/PLH1HKV", "html_url": "https://acme.pagerduty.com/users/PLH1HKV"},
    "client": null,
    "data": {
      "type": "incident_field_values",
      "incident": {
        "id": "Q2ZRUJHI3WRB8Q",
        "type": "incident_reference",
        "self": "https://api.pagerduty.com/incidents/Q2ZRUJHI3WRB8Q",
        "html_url": "https://acme.pagerduty.com/incidents/Q2ZRUJHI3WRB8Q",
        "summary": null
      },
      "custom_fields": [
        {"data_type": "string", "field_type": "single_value", "id": "PT4KHLK", "name": "environment",
         "namespace": "incidents", "type": "field_value", "value": "production"},
        {"data_type": "integer", "field_type": "single_value", "id": "PX1A2B3", "name": "customers_affected",
         "namespace": "incidents", "type": "field_value", "value": 1200},
        {"data_type": "string", "field_type": "multi_value_fixed", "id": "PQ9R8S7", "name": "regions",
         "namespace": "incidents", "type": "field_value", "value": ["us-east-1", "eu-west-1"]},
        {"data_type": "boolean", "field_type": "single_value", "id": "PB00L01", "name": "customer_facing",
         "namespace": "incidents", "type": "field_value", "value": null}
      ],
      "changed_custom_fields": [
        {"data_type": "string", "field_type": "single_value", "id": "PT4KHLK", "name": "environment",
         "namespace": "incidents", "type": "field_value", "value": "production"},
        {"data_type": "boolean", "field_type": "single_value", "id": "PB00L01", "name": "customer_facing",
         "namespace": "incidents", "type": "field_value", "value": null}
      ]
    }
  }
}`

const bodyAnnotated = `{"event":{"id":"01BZ3X8FPJ0VQ0XW6E7F8G9H0J","event_type":"incident.annotated","resource_type":"incident",
"occurred_at":"2022-12-20T17:19:24.367Z","agent":{"id":"PLH1HKV","type":"user_reference"},"client":null,
"data":{"incident":{"html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","id":"PGR0VU2","self":"https://api.pagerduty.com/incidents/PGR0VU2","summary":"A little bump in the road","type":"incident_reference"},
"id":"P7VMY1J","content":"Restarted the API pods","trimmed":false,"type":"incident_note"}}}`

const bodyPing = `{"event":{"id":"01BZ3Y1H3Q4R5S6T7U8V9W0X1Y","event_type":"pagey.ping","resource_type":"pagey",
"occurred_at":"2021-10-15T16:44:30.012Z","agent":null,"client":null,
"data":{"message":"Hello from your friend Pagey!","type":"ping"}}}`

const bodyServiceUpdated = `{"event":{"id":"01C0A1B2C3D4E5F6G7H8J9K0M1","event_type":"service.updated","resource_type":"service",
"occurred_at":"2023-01-01T00:00:00.000Z","agent":{"id":"PLH1HKV","type":"user_reference"},"client":null,
"data":{"id":"PF9KMXH","type":"service","name":"API Service","status":"active"}}}`

// bodyOdd has the field types seen in the wild: number as a string,
// conference_number as a number, priority and agent null, teams not an
// array, assignees with junk items, an unparseable created_at.
const bodyOdd = `{"event":{"id":12345,"event_type":"incident.resolved","resource_type":"incident",
"occurred_at":"not a time","agent":null,"client":"web",
"data":{"id":"PODD001","type":"incident","number":"42","status":"resolved","title":7,
"urgency":null,"priority":null,"teams":{"id":"PT"},"assignees":[null,"x",{"id":"PU1"},{"summary":"no id"}],
"conference_bridge":{"conference_number":18005551234,"conference_url":null},
"created_at":"yesterday","resolve_reason":"merged","service":"PF9KMXH","escalation_policy":[],
"incident_key":null,"html_url":null}}}`

const bodyV2 = `{"messages":[{"id":"bb8b8fe0-e8d5-11e5-a8b6-22000bd50b3a","event":"incident.trigger",
"created_on":"2016-03-12T14:31:20Z","incident":{"id":"PIJ90N7","incident_number":1,"status":"triggered",
"html_url":"https://acme.pagerduty.com/incidents/PIJ90N7"},"webhook":{"endpoint_url":"https://example.com/hook"}}]}`

const bodyV1 = `{"messages":[{"type":"incident.trigger","data":{"incident":{"id":"PIJ90N7","incident_number":1,
"status":"triggered"}},"id":"bb8b8fe0-e8d5-11e5-a8b6-22000bd50b3a","created_on":"2016-03-12T14:31:20Z"}]}`

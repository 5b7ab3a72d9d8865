"""The allocation step's configuration schema (JSON Schema draft 2020-12), the same document the
Rust allocation step returns from `describe`: the host validates every configuration against it
before the step runs. tests/tests/polyglot.rs checks that the two stay equal.
"""

CONFIG_SCHEMA = r"""
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "additionalProperties": false,
  "properties": {
    "basis": {
      "additionalProperties": false,
      "description": "For method basis: the balances that weigh each destination, filtered by its dimensions.",
      "oneOf": [
        {
          "required": [
            "accounts"
          ]
        },
        {
          "required": [
            "account_range"
          ]
        }
      ],
      "properties": {
        "account_range": {
          "additionalProperties": false,
          "description": "Or an inclusive range of accounts, compared as text.",
          "properties": {
            "from": {
              "minLength": 1,
              "type": "string"
            },
            "to": {
              "minLength": 1,
              "type": "string"
            }
          },
          "required": [
            "from",
            "to"
          ],
          "type": "object"
        },
        "accounts": {
          "description": "These accounts.",
          "items": {
            "minLength": 1,
            "type": "string"
          },
          "minItems": 1,
          "type": "array"
        },
        "dimensions": {
          "additionalProperties": {
            "minLength": 1,
            "type": "string"
          },
          "description": "Only lines carrying every one of these dimension values.",
          "type": "object"
        },
        "from_period": {
          "description": "The first period of the range.",
          "minLength": 1,
          "type": "string"
        },
        "scope": {
          "default": "period",
          "description": "Without from_period: the movements of to_period alone, or the balance from the fiscal year's start.",
          "enum": [
            "period",
            "year-to-date"
          ]
        },
        "to_period": {
          "description": "The last period of the range; the run period when absent.",
          "minLength": 1,
          "type": "string"
        }
      },
      "type": "object"
    },
    "description": {
      "description": "The entry description.",
      "minLength": 1,
      "type": "string"
    },
    "destinations": {
      "description": "The lines receiving shares, in order.",
      "items": {
        "additionalProperties": false,
        "properties": {
          "account": {
            "description": "The account; the source's account when absent.",
            "minLength": 1,
            "type": "string"
          },
          "basis_dimensions": {
            "additionalProperties": {
              "minLength": 1,
              "type": "string"
            },
            "description": "For basis: the dimension values selecting this destination's basis, in place of dimensions.",
            "type": "object"
          },
          "dimensions": {
            "additionalProperties": {
              "minLength": 1,
              "type": "string"
            },
            "description": "The dimension values of the line.",
            "type": "object"
          },
          "percent": {
            "description": "For fixed-percentage: the share in percent.",
            "pattern": "^-?[0-9]+(\\.[0-9]+)?$",
            "type": "string"
          },
          "weight": {
            "description": "For fixed-weight: the weight.",
            "pattern": "^-?[0-9]+(\\.[0-9]+)?$",
            "type": "string"
          }
        },
        "type": "object"
      },
      "maxItems": 1000,
      "minItems": 1,
      "type": "array"
    },
    "method": {
      "description": "How the amount is shared among the destinations.",
      "enum": [
        "fixed-percentage",
        "fixed-weight",
        "equally",
        "basis"
      ]
    },
    "offset": {
      "additionalProperties": false,
      "description": "The line crediting the source; when absent, each source balance is credited back.",
      "properties": {
        "account": {
          "minLength": 1,
          "type": "string"
        },
        "dimensions": {
          "additionalProperties": {
            "minLength": 1,
            "type": "string"
          },
          "description": "The dimension values of the offset line.",
          "type": "object"
        }
      },
      "required": [
        "account"
      ],
      "type": "object"
    },
    "on_zero_source": {
      "default": "stop",
      "description": "A source of zero stops the step with an error, or is skipped with a message.",
      "enum": [
        "stop",
        "skip"
      ]
    },
    "remainder": {
      "default": "last",
      "description": "Which destination takes the rounding remainder.",
      "enum": [
        "last",
        "largest"
      ]
    },
    "source": {
      "description": "What is allocated: ledger balances, or a fixed amount.",
      "oneOf": [
        {
          "additionalProperties": false,
          "properties": {
            "ledger": {
              "additionalProperties": false,
              "description": "The net accounting-currency balance of these accounts, by default over the run period.",
              "oneOf": [
                {
                  "required": [
                    "accounts"
                  ]
                },
                {
                  "required": [
                    "account_range"
                  ]
                }
              ],
              "properties": {
                "account_range": {
                  "additionalProperties": false,
                  "description": "Or an inclusive range of accounts, compared as text.",
                  "properties": {
                    "from": {
                      "minLength": 1,
                      "type": "string"
                    },
                    "to": {
                      "minLength": 1,
                      "type": "string"
                    }
                  },
                  "required": [
                    "from",
                    "to"
                  ],
                  "type": "object"
                },
                "accounts": {
                  "description": "These accounts.",
                  "items": {
                    "minLength": 1,
                    "type": "string"
                  },
                  "minItems": 1,
                  "type": "array"
                },
                "dimensions": {
                  "additionalProperties": {
                    "minLength": 1,
                    "type": "string"
                  },
                  "description": "Only lines carrying every one of these dimension values.",
                  "type": "object"
                },
                "from_period": {
                  "description": "The first period of the range.",
                  "minLength": 1,
                  "type": "string"
                },
                "scope": {
                  "default": "period",
                  "description": "Without from_period: the movements of to_period alone, or the balance from the fiscal year's start.",
                  "enum": [
                    "period",
                    "year-to-date"
                  ]
                },
                "to_period": {
                  "description": "The last period of the range; the run period when absent.",
                  "minLength": 1,
                  "type": "string"
                }
              },
              "type": "object"
            }
          },
          "required": [
            "ledger"
          ]
        },
        {
          "additionalProperties": false,
          "properties": {
            "fixed": {
              "additionalProperties": false,
              "description": "A fixed amount.",
              "properties": {
                "amount": {
                  "description": "The amount, written as a decimal string.",
                  "pattern": "^-?[0-9]+(\\.[0-9]+)?$",
                  "type": "string"
                },
                "currency": {
                  "description": "Its currency; the accounting currency when absent.",
                  "minLength": 1,
                  "type": "string"
                }
              },
              "required": [
                "amount"
              ],
              "type": "object"
            }
          },
          "required": [
            "fixed"
          ]
        }
      ],
      "type": "object"
    }
  },
  "required": [
    "method",
    "source",
    "destinations"
  ],
  "title": "allocation configuration",
  "type": "object"
}
"""

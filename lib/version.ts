/** bot-bottle's own version, printed by `bot-bottle version` and `--version`. */
export const VERSION = "0.1.0";

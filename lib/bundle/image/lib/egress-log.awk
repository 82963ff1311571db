# Turns squid access-log records (logformat bb_decision in squid.conf:
# "%Ss %err_code %>rm %>rd %>rP %>Hs") into one line per egress decision on stdout:
#   egress allow CONNECT api.anthropic.com:443 (HTTP 200)
#   egress deny GET evil.test:80 (not on allowlist)
# A refusal's page is named after its reason code (ERR_BB_<CODE>); the summaries come from
# reasons.tsv (code TAB summary), generated from bot-bottle's reason codes at build time.
# Records without a request (a bare TCP connect, e.g. the health check) are not decisions.
BEGIN {
  FS = " "
  while ((getline line < "/usr/local/lib/bot-bottle/reasons.tsv") > 0) {
    split(line, cell, "\t")
    summary["ERR_BB_" toupper(cell[1])] = cell[2]
  }
}
{
  status = $1; err = $2; method = $3; host = $4; port = $5; code = $6
  if (method == "-" || method == "" || host == "-") next
  dest = host ":" port
  if (status ~ /^TCP_DENIED/) {
    why = (err in summary) ? summary[err] : "refused: " err
    printf "egress deny %s %s (%s)\n", method, dest, why
  } else if (status ~ /^NONE/) {
    printf "egress deny %s %s (malformed request: %s)\n", method, dest, err
  } else {
    printf "egress allow %s %s (HTTP %s)\n", method, dest, code
  }
  fflush()
}

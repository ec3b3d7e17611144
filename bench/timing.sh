# Shared by the bench scripts that time whole commands: `source "$(dirname "$0")/timing.sh"`.

# The median of the whitespace-separated numbers on standard input.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Seconds (one decimal) since T0, a `date +%s.%N` reading.
seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }

# B / A to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b / a}'; }

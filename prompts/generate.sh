#!/usr/bin/env bash
# Generates prompts/<lang>/<id>.wav from prompts/manifest.toml with espeak-ng and
# sox: 8000 Hz, mono, 16-bit, trimmed and normalised. Synthesised entries
# (synth = "hold_music" | "beep" | "ringback") are made with sox alone.
#
# Studio recordings win: prompts/generated.lst records the checksum of every WAV
# this script made; a WAV that is not listed there, or whose checksum differs
# (someone replaced it with a recording), is never overwritten. Text changes
# regenerate only the prompts whose text changed. `--force` regenerates every
# prompt this script made.
#
# Needs: espeak-ng, sox (apt-get install -y espeak-ng sox).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/manifest.toml"
list="$here/generated.lst"
force=0
[[ "${1:-}" == "--force" ]] && force=1

for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found: apt-get install -y espeak-ng sox" >&2; exit 1; }
done

mkdir -p "$here/sv" "$here/en"
touch "$list"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
newlist="$tmp/generated.lst"
: >"$newlist"

# Conversion shared by every prompt: 8 kHz mono 16-bit, trim leading/trailing
# silence, normalise to -3 dBFS, 80 ms of silence at the end.
convert() {
  sox -R "$1" -r 8000 -c 1 -b 16 "$2" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
    norm -3 pad 0 0.08
}

wavsum() { sha256sum "$1" | cut -c1-16; }

# Prints the list entry "texthash wavsum" for a key, or nothing.
entry() { awk -F '\t' -v k="$1" '$1 == k { print $2 " " $3 }' "$list"; }

# True when the file exists but was not made by this script (a recording).
is_recording() { # key out
  local e
  [[ -f "$2" ]] || return 1
  e="$(entry "$1")"
  [[ -z "$e" || "${e#* }" != "$(wavsum "$2")" ]]
}

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$(wavsum "$3")" >>"$newlist"; }

speak() { # lang id text
  local lang="$1" id="$2" text="$3" voice out key hash
  out="$here/$lang/$id.wav"
  key="$lang/$id"
  hash="$(printf '%s|%s' "$lang" "$text" | sha256sum | cut -c1-16)"
  if is_recording "$key" "$out"; then
    echo "keep   $key (recording not made by this script)"
    return
  fi
  if [[ $force -eq 0 && -f "$out" && "$(entry "$key")" == "$hash "* ]]; then
    record "$key" "$hash" "$out"
    return
  fi
  case "$lang" in sv) voice=sv ;; en) voice=en-gb ;; esac
  espeak-ng -v "$voice" -s 150 -w "$tmp/raw.wav" "$text"
  convert "$tmp/raw.wav" "$out"
  record "$key" "$hash" "$out"
  echo "speak  $key"
}

synth() { # id kind
  local id="$1" kind="$2" lang out key
  case "$kind" in
    ringback) # The Swedish ring tone: 425 Hz, 1 s on, 5 s off.
      sox -R -n -r 8000 -c 1 -b 16 "$tmp/synth.wav" synth 1 sine 425 fade 0.01 1 0.01 norm -12 pad 0 5 ;;
    beep)
      sox -R -n -r 8000 -c 1 -b 16 "$tmp/synth.wav" synth 0.25 sine 1000 fade 0.01 0.25 0.03 norm -6 ;;
    hold_music)
      # A gentle loop: C - Am - F - G, 1.5 s each, soft attack and release.
      local parts=()
      local i=0
      for chord in "261.63 329.63 392.00" "220.00 261.63 329.63" "174.61 220.00 261.63" "196.00 246.94 293.66"; do
        set -- $chord
        sox -R -n -r 8000 -c 3 -b 16 "$tmp/c$i.wav" synth 1.5 sine "$1" sine "$2" sine "$3" \
          remix - fade q 0.3 1.5 0.4
        parts+=("$tmp/c$i.wav")
        i=$((i + 1))
      done
      sox -R "${parts[@]}" -r 8000 -c 1 -b 16 "$tmp/synth.wav" norm -9 ;;
    *) echo "generate.sh: unknown synth \"$kind\" for $id" >&2; exit 1 ;;
  esac
  for lang in sv en; do
    out="$here/$lang/$id.wav"
    key="$lang/$id"
    if is_recording "$key" "$out"; then
      echo "keep   $key (recording not made by this script)"
      continue
    fi
    cp "$tmp/synth.wav" "$out"
    record "$key" "synth-$kind" "$out"
  done
  echo "synth  $id ($kind)"
}

# A small reader for the manifest's shape: [prompts.ID] then key = "value" lines.
id="" sv="" en="" kind=""
flush() {
  [[ -z "$id" ]] && return
  if [[ -n "$kind" ]]; then
    synth "$id" "$kind"
  else
    [[ -n "$sv" && -n "$en" ]] || { echo "generate.sh: prompts.$id needs sv and en" >&2; exit 1; }
    speak sv "$id" "$sv"
    speak en "$id" "$en"
  fi
  id="" sv="" en="" kind=""
}
unquote() { local v="${1#*= }"; v="${v#\"}"; v="${v%\"}"; printf '%s' "${v//\\\"/\"}"; }

while IFS= read -r line || [[ -n "$line" ]]; do
  case "$line" in
    '[prompts.'*']') flush; id="${line#\[prompts.}"; id="${id%\]}" ;;
    'sv = '*) sv="$(unquote "$line")" ;;
    'en = '*) en="$(unquote "$line")" ;;
    'synth = '*) kind="$(unquote "$line")" ;;
  esac
done <"$manifest"
flush

sort -o "$list" "$newlist"
echo "done: $(wc -l <"$list") generated prompt files; total $(du -sh "$here/sv" "$here/en" | awk '{print $1}' | paste -sd+)"

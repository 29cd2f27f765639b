# shellcheck shell=bash
# deps.sh - install the Debian packages deployfs needs to build, run and
# test, when any is missing.  Sourced by tools/run, tools/test, tools/bench.

DFS_PACKAGES=(
	gcc pkg-config meson ninja-build
	libfuse3-dev fuse3 libsqlite3-dev sqlite3 libxxhash-dev libcriterion-dev
	rsync git attr acl tar diffutils findutils coreutils util-linux procps
	inotify-tools restic jq man-db groff-base vim strace
	libpq-dev postgresql
)

dfs_install_deps() {
	local missing=() p sudo=()

	for p in "${DFS_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		# sudo may ask for a password, but only on a terminal.
		if ! command -v sudo >/dev/null ||
			{ ! [ -t 0 ] && ! sudo -n true 2>/dev/null; }; then
			echo "missing Debian packages: ${missing[*]}" >&2
			echo "install them as root, then run this again:" >&2
			echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
			return 1
		fi
		sudo=(sudo)
	fi
	echo "installing: ${missing[*]}" >&2
	"${sudo[@]}" apt-get update
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y \
		--no-install-recommends "${missing[@]}"
}

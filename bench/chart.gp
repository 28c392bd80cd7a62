# SPDX-License-Identifier: GPL-2.0-or-later
# bench/chart.gp: grouped bars of the median Mpps per scenario, one panel per frame size, with
# min-max error bars. run.sh calls it after summarize.py:
#   gnuplot -e "datafile='chart.dat'; outfile='chart.png'" chart.vars chart.gp
# chart.dat has one gnuplot index per size; columns: scenario, then median/min/max Mpps of
# vhostd (poll=busy), DPDK net_vhost and vhostd (poll=adaptive), NaN where there is none.
# chart.vars sets sizes ("64 1518") and has ("111 110": which of the three series has data).

n = words(sizes)
set terminal pngcairo noenhanced size 1200, 460 * n font ",10"
set output outfile
set style data histogram
set style histogram errorbars gap 2 lw 1.5
set style fill solid 0.75 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set ylabel "Mpps (median, error bar: min-max)"
set key top right
set multiplot layout n, 1 title "vhostd vs DPDK vhost-user back-end (one core each, same DPDK virtio-user front-end)"

array title[3] = ["vhostd (poll=busy)", "DPDK net_vhost", "vhostd (poll=adaptive)"]
array color[3] = ["#1f77b4", "#ff7f0e", "#2ca02c"]
do for [i = 1:n] {
	set title sprintf("%s-byte frames", word(sizes, i))
	cmd = ""
	do for [k = 1:3] {
		if (substr(word(has, i), k, k) eq "1") {
			c = 3 * k - 1
			# Only the first series carries the scenario labels.
			cmd = cmd . (cmd eq "" ? sprintf("datafile index %d using %d:%d:%d:xtic(1)", i - 1, c, c + 1, c + 2) \
			                        : sprintf(", '' index %d using %d:%d:%d", i - 1, c, c + 1, c + 2)) \
			          . sprintf(" title '%s' lc rgb '%s'", title[k], color[k])
		}
	}
	if (cmd ne "") {
		eval "plot " . cmd
	}
}
unset multiplot

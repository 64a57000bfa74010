# bench/plot.gp - ops/s per workload per engine, clustered bars, log scale.
# Called by bench/report.py as:
#   gnuplot -e "datafile='...'; outfile='...'; ncol=6; subtitle='...'" plot.gp
# datafile: first line "workload engine1 engine2 ...", then one line per
# workload with the ops/s of each engine (NaN when not run).
set terminal pngcairo size 1600,700 font "sans,10"
set output outfile
set title "kvbench: operations per second (higher is better, log scale)\n{/*0.8 ".subtitle."}"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set logscale y
set yrange [100:*]
set format y "%.0s%c"
set ylabel "ops/s"
set grid ytics
set xtics rotate by -40 scale 0
set key top right horizontal
set datafile missing "NaN"
plot for [i=2:ncol] datafile using i:xtic(1) title columnheader(i)

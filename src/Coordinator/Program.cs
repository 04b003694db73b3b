var plt = new ScottPlot.Plot();
plt.Add.Scatter(new double[]{1,2,3}, new double[]{1,4,9});
plt.Title("test");
plt.SavePng("/tmp/p.png", 600, 400);
System.Console.WriteLine("ok");

namespace CnnCluster.Engine.Training;

/// <summary>
/// This process's CPU time per step, every thread (<see cref="Environment.CpuUsage"/>), from the first step begun to
/// the last: what a step costs the machine, beside how long it takes. The last step's own time after it (e.g. a
/// final evaluation) is not counted. Not thread-safe: one step loop calls it.
/// </summary>
public sealed class StepCpu
{
    private TimeSpan _first, _last;
    private long _steps = -1;

    /// <summary>A step begins now.</summary>
    public void StepBegins()
    {
        TimeSpan now = Environment.CpuUsage.TotalTime;
        if (++_steps == 0)
        {
            _first = now;
        }

        _last = now;
    }

    /// <summary>Microseconds of CPU per step between the first step begun and the last; 0 before two.</summary>
    public double MicrosecondsPerStep => _steps > 0 ? (_last - _first).TotalMicroseconds / _steps : 0;
}

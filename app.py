"""Launch the gan_demo app: python app.py [--host 127.0.0.1] [--port 7860] [--share]."""
import argparse
import os

# Before gradio is imported anywhere: no analytics, no telemetry, nothing phones home.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def main() -> None:
    parser = argparse.ArgumentParser(description="Train GANs live in the browser and explore what they learned.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs internet; off by default)")
    parser.add_argument("--max-runs", type=int, default=2, help="training slots across all visitors (default 2): a run that trains alone (an image "
                        "run, a VAE, each run of a comparison) holds one; 2D runs of the same shapes (ring8 at its "
                        "defaults, say) train together as one pooled step and share a slot per 0.1 s of that step, "
                        "so a class of 24 ring8 runs fits in the default")
    parser.add_argument("--session-timeout", type=float, default=1800, metavar="SECONDS",
                        help="drop a visitor's session (and stop its run) after this many seconds without any "
                             "event from it (default 1800: 30 minutes)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="device for training and sampling (default auto)")
    parser.add_argument("--ray", metavar="auto|local|ADDRESS", default=None,
                        help="train visitors' runs in Ray actors: auto (a cluster already started on this machine, "
                             "else a new one on the loopback), local (always a new one), or a head's HOST:PORT "
                             "(README: \"A class bigger than one machine\"); without it Ray is not used")
    args = parser.parse_args()
    if args.max_runs < 1:
        parser.error("--max-runs must be at least 1")
    if args.session_timeout <= 0:
        parser.error("--session-timeout must be a positive number of seconds")

    from gan_demo.ui import launch

    launch(host=args.host, port=args.port, share=args.share, max_runs=args.max_runs, device=args.device,
           session_timeout=args.session_timeout, ray=args.ray)


if __name__ == "__main__":
    main()

"""The views, registered in one list: adding a view is one package here and one line in VIEWS.

Each view is a plug-in (explorer.gui.host.View): its pane, the way it follows the window's state, and its
jobs, built from the host alone. The order here is the order they are built (and their docks added).
"""

from explorer.gui.views.across import AcrossView
from explorer.gui.views.attribution import AttributionView
from explorer.gui.views.backprop import BackpropView
from explorer.gui.views.browser import BrowserView
from explorer.gui.views.choices import ChoicesView
from explorer.gui.views.evolution import EvolutionView
from explorer.gui.views.input_image import InputImageView
from explorer.gui.views.invariance import InvarianceView
from explorer.gui.views.maps import MapsView
from explorer.gui.views.occlusion import OcclusionView
from explorer.gui.views.prediction import PredictionView
from explorer.gui.views.projection import ProjectionView
from explorer.gui.views.sanity import SanityView
from explorer.gui.views.synthesis import SynthesisView
from explorer.gui.views.top_images import TopImagesView

VIEWS = (
    BrowserView,
    ChoicesView,
    PredictionView,
    MapsView,
    ProjectionView,
    AcrossView,
    TopImagesView,
    InputImageView,
    BackpropView,
    SynthesisView,
    OcclusionView,
    EvolutionView,
    InvarianceView,
    AttributionView,
    SanityView,
)

__all__ = ["VIEWS"]
